# A cloud image downloaded into the node's storage...
resource "homelab_proxmox_download_file" "noble" {
  node         = "pve"
  storage      = "local"
  content_type = "import"
  file_name    = "noble-server-cloudimg-amd64.qcow2"
  url          = "https://cloud-images.ubuntu.com/noble/current/noble-server-cloudimg-amd64.img"
}

# ...a template built from it...
resource "homelab_proxmox_vm" "template" {
  node     = "pve"
  name     = "noble-template"
  template = true
  started  = false
  cpu      = { cores = 2, type = "x86-64-v2-AES" }
  memory   = { dedicated = 2048 }
  disk = {
    scsi0 = { storage = "local-lvm", import_from = homelab_proxmox_download_file.noble.id, size = 10, discard = true }
  }
  network = { net0 = { bridge = "vmbr0" } }
  initialization {
    user = "ubuntu"
  }
}

# ...and VMs cloned from it (VMIDs are allocated without races).
resource "homelab_proxmox_vm" "k8s" {
  count = 3
  node  = "pve"
  name  = "k8s-${count.index}"
  tags  = ["k8s", "lab"]
  clone {
    vm_id = homelab_proxmox_vm.template.vm_id
  }
  cpu    = { cores = 4 }
  memory = { dedicated = 8192, balloon = 0 }
  disk = {
    scsi0 = { storage = "local-lvm", size = 40, discard = true, iothread = true }
  }
  network = {
    net0 = { bridge = "vmbr0", vlan = 20 }
  }
  initialization {
    user     = "ubuntu"
    ssh_keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq3u0AxVPS4lVKzH3Y7rvO6vYbXy3cNbN0zJY3o0l8K admin@lab"]
    ip_config = {
      net0 = { ipv4_address = "10.0.20.${10 + count.index}/24", ipv4_gateway = "10.0.20.1" }
    }
    dns = { servers = ["10.0.20.1"], domain = "lab.internal" }
  }
  reboot_after_update = true
}
