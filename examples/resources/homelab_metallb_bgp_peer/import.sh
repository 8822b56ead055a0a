# Import by namespace and name.
terraform import homelab_metallb_bgp_peer.router metallb-system/router
