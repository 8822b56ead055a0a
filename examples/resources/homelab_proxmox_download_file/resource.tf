resource "homelab_proxmox_download_file" "noble" {
  node         = "pve"
  storage      = "local"
  content_type = "import"
  file_name    = "noble-server-cloudimg-amd64.qcow2"
  url          = "https://cloud-images.ubuntu.com/noble/current/noble-server-cloudimg-amd64.img"
}
