# node/vm_id
terraform import homelab_proxmox_vm.k8s[0] pve/101
