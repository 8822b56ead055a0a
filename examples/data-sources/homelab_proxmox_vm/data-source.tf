data "homelab_proxmox_vm" "template" {
  name = "noble-template"
}
