# Import by RouterOS's id or by the entry's comment.
terraform import homelab_routeros_firewall_address_list.admin_pc 'comment=admin pc'
terraform import homelab_routeros_firewall_address_list.lab '*3'
