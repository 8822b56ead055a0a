# The machines: a Debian cloud image downloaded into the node's storage, a
# template built from it, and three cluster nodes cloned from the template
# (cloned in parallel; VMIDs are allocated without races). Their addresses
# get names in the internal zone.

locals {
  node_names = ["k8s-cp-0", "k8s-cp-1", "k8s-cp-2"]
}

resource "homelab_proxmox_download_file" "debian" {
  node         = var.proxmox_node
  storage      = "local"
  content_type = "import"
  file_name    = "debian-13-genericcloud-amd64.qcow2"
  url          = "https://cloud.debian.org/images/cloud/trixie/latest/debian-13-genericcloud-amd64.qcow2"
}

resource "homelab_proxmox_vm" "template" {
  node     = var.proxmox_node
  name     = "debian-13-template"
  template = true
  started  = false
  tags     = ["template"]
  cpu      = { cores = 2, type = "x86-64-v2-AES" }
  memory   = { dedicated = 2048 }
  disk = {
    scsi0 = { storage = "local-lvm", import_from = homelab_proxmox_download_file.debian.id, size = 8, discard = true }
  }
  network = { net0 = { bridge = "vmbr0" } }
}

resource "homelab_proxmox_vm" "node" {
  count = length(local.node_names)

  node = var.proxmox_node
  name = local.node_names[count.index]
  tags = ["k8s", "lab"]
  clone {
    vm_id = homelab_proxmox_vm.template.vm_id
  }
  cpu    = { cores = 4 }
  memory = { dedicated = 8192, balloon = 0 }
  disk = {
    scsi0 = { storage = "local-lvm", size = 32, discard = true, iothread = true }
  }
  network = {
    net0 = { bridge = "vmbr0", vlan = 20 }
  }
  initialization {
    user = "debian"
    ip_config = {
      net0 = { ipv4_address = "10.0.20.${21 + count.index}/24", ipv4_gateway = "10.0.20.1" }
    }
    dns = { servers = [local.dns_server], domain = var.lab_domain }
  }
  wait_for_ip_seconds = 0
}

resource "homelab_technitium_dns_record" "node" {
  count = length(local.node_names)

  zone  = homelab_technitium_zone.lab.name
  name  = homelab_proxmox_vm.node[count.index].name
  type  = "A"
  value = "10.0.20.${21 + count.index}"
}
