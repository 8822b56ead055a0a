# Import the rules of an interface marked [homelab].
terraform import homelab_pfsense_firewall_ruleset.lan LAN

# Rules of another owner (marked [ops]).
terraform import homelab_pfsense_firewall_ruleset.lan LAN/ops

# Every rule of the interface, made by hand (exclusive = true): how homelab-discover adopts it.
terraform import homelab_pfsense_firewall_ruleset.lan "LAN/*"
