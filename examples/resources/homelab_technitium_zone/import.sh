# Import a zone by its name.
terraform import homelab_technitium_zone.home home.arpa

# Or let homelab-discover write the import blocks of everything that exists:
# homelab-discover --backend technitium --out imports.tf
