# Import by RouterOS's id or by the rule's comment.
terraform import homelab_routeros_firewall_nat.masquerade 'comment=masquerade'
terraform import homelab_routeros_firewall_nat.plex '*5'
