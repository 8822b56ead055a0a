data "homelab_proxmox_vms" "k8s" {
  tags       = ["k8s"]
  name_regex = "^k8s-"
}
