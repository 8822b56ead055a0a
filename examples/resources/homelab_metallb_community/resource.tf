# Names for communities, usable in BGP advertisements.
resource "homelab_metallb_community" "aliases" {
  name = "aliases"
  communities = {
    "no-export" = "65535:65281"
    "lab-large" = "large:64512:1:1"
  }
}
