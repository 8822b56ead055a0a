# node/storage:content_type/file_name (the node, then the volume ID).
# Proxmox VE does not record the URL: set `url` in configuration afterwards
# (that changes nothing but state) so that a missing file can be downloaded again.
terraform import homelab_proxmox_download_file.noble pve1/local:import/noble-server-cloudimg-amd64.qcow2
