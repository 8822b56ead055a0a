# Import a rule by its tracker.
terraform import homelab_pfsense_firewall_rule.ssh 1700000000

# Several rules share a tracker when made in the same second: add the description.
terraform import homelab_pfsense_firewall_rule.ssh "1700000000/ssh to the firewall"
