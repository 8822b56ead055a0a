# node/vm_id (what homelab-discover writes)
terraform import homelab_proxmox_vm.k8s[0] pve/101
