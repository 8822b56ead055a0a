# Import by namespace and name.
terraform import homelab_metallb_community.aliases metallb-system/aliases
