# A template built from a downloaded cloud image...
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
    ssh_keys = [file("~/.ssh/id_ed25519.pub")]
    ip_config = {
      net0 = { ipv4_address = "10.0.20.${10 + count.index}/24", ipv4_gateway = "10.0.20.1" }
    }
    dns = { servers = ["10.0.20.1"], domain = "lab.internal" }
  }
  reboot_after_update = true
}
