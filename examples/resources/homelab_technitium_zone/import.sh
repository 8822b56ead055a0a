# Import a zone by its name.
terraform import homelab_technitium_zone.home home.arpa
