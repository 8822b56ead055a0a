# Import by namespace and name.
terraform import homelab_metallb_l2_advertisement.lan metallb-system/lan
