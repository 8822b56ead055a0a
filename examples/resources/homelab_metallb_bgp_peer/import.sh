# Import by namespace and name.
# The peer's `password` is not imported (sensitive; the cluster keeps it):
# set `password_wo` and `password_wo_version` to manage it from Terraform.
terraform import homelab_metallb_bgp_peer.router metallb-system/router
