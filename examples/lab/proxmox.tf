# The machines: Talos Linux's cloud image (the Image Factory's nocloud
# image: Talos reads its addresses from the cloud-init drive Proxmox VE
# attaches) downloaded once, a template built from it on shared storage,
# and one VM per node of var.nodes, cloned from the template onto the
# Proxmox VE node the node names (full clones, in parallel; VMIDs are
# allocated without races). The VMs boot Talos in maintenance mode, where
# talos.tf configures them; each gets its name in the internal zone.

locals {
  talos_image_version = "v1.14.0"
  # The Image Factory's schematic without customizations.
  talos_schematic = "376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba"
}

resource "homelab_proxmox_download_file" "talos" {
  node         = var.proxmox_template_node
  storage      = "local"
  content_type = "import"
  file_name    = "talos-${local.talos_image_version}-nocloud-amd64.qcow2"
  url          = "https://factory.talos.dev/image/${local.talos_schematic}/${local.talos_image_version}/nocloud-amd64.qcow2"
}

# On shared storage, with no cloud-init drive of its own: a template whose
# volumes are all shared can be cloned to any node of the cluster.
resource "homelab_proxmox_vm" "template" {
  node     = var.proxmox_template_node
  name     = "${var.site_name}-talos-template"
  template = true
  started  = false
  tags     = ["template", "talos"]
  cpu      = { cores = 2, type = "x86-64-v2-AES" }
  memory   = { dedicated = 2048 }
  disk = {
    scsi0 = { storage = var.proxmox_shared_storage, import_from = homelab_proxmox_download_file.talos.id, size = 8, discard = true }
  }
  network = { net0 = { bridge = "vmbr0" } }
}

resource "homelab_proxmox_vm" "node" {
  for_each = var.nodes

  node = each.value.proxmox_node
  name = "${var.site_name}-${each.key}"
  tags = ["k8s", startswith(each.key, "cp") ? "controlplane" : "worker", var.site_name]
  clone {
    node  = var.proxmox_template_node
    vm_id = homelab_proxmox_vm.template.vm_id
  }
  cpu    = { cores = 4 }
  memory = { dedicated = startswith(each.key, "cp") ? 4096 : 8192, balloon = 0 }
  disk = {
    scsi0 = { storage = var.proxmox_shared_storage, size = 32, discard = true, iothread = true }
  }
  network = {
    net0 = { bridge = "vmbr0", vlan = 20 }
  }
  # Talos's nocloud platform reads the network configuration (and nothing
  # else: no users, no keys) from this drive.
  initialization {
    ip_config = {
      net0 = { ipv4_address = "${local.node_ips[each.key]}/24", ipv4_gateway = local.gateway }
    }
    dns = { servers = [local.dns_server], domain = var.lab_domain }
  }
  wait_for_ip_seconds = 0
}

# The node's name, at the address its VM was given.
resource "homelab_technitium_dns_record" "node" {
  for_each = homelab_proxmox_vm.node

  zone  = homelab_technitium_zone.lab.name
  name  = each.value.name
  type  = "A"
  value = split("/", each.value.initialization.ip_config.net0.ipv4_address)[0]
}
