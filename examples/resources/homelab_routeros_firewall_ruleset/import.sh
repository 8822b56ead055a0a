# Import by table and chain: the rules marked [homelab] (or
# table/chain/owner for another owner).
terraform import homelab_routeros_firewall_ruleset.input filter/input
terraform import homelab_routeros_firewall_ruleset.port_forwards nat/dstnat

# Every static rule of the chain, made by hand or by defconf (no marker;
# exclusive = true): how homelab-discover adopts a chain.
terraform import homelab_routeros_firewall_ruleset.forward "filter/forward/*"
