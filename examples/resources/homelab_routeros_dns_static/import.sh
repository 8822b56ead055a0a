# Import by RouterOS's id (`/ip/dns/static print show-ids`) or by comment.
terraform import homelab_routeros_dns_static.nas '*7'
