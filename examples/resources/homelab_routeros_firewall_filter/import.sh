# Import by RouterOS's id (`/ip/firewall/filter print show-ids`) or by the
# rule's comment (it must be the only rule with that comment).
terraform import homelab_routeros_firewall_filter.wireguard '*1A'
terraform import homelab_routeros_firewall_filter.to_lan_in 'comment=lan traffic'
