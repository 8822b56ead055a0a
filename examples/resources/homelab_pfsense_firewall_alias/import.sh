# Import an alias by its name.
terraform import homelab_pfsense_firewall_alias.web_servers web_servers
