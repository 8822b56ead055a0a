# Import by namespace and name.
terraform import homelab_metallb_ip_address_pool.lan metallb-system/lan
