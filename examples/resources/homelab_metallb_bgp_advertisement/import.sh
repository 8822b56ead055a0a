# Import by namespace and name.
terraform import homelab_metallb_bgp_advertisement.lan metallb-system/lan
