# Import by table and chain: the rules marked [homelab] (or
# table/chain/owner for another owner).
terraform import homelab_routeros_firewall_ruleset.input filter/input
terraform import homelab_routeros_firewall_ruleset.port_forwards nat/dstnat
