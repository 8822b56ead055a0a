# Import ID: zone/name/TYPE/value, split on the first three slashes (a TXT
# value may contain slashes). Use the name as written in the configuration.
terraform import homelab_technitium_dns_record.nas 'home.arpa/nas/A/192.168.1.20'
terraform import homelab_technitium_dns_record.spf 'home.arpa/@/TXT/v=spf1 mx -all'

# MX: preference exchange; SRV: priority weight port target; CAA: flags tag value.
terraform import homelab_technitium_dns_record.mail 'home.arpa/@/MX/10 mail.home.arpa'
terraform import homelab_technitium_dns_record.sip 'home.arpa/_sip._udp/SRV/10 5 5060 pbx.home.arpa'
terraform import homelab_technitium_dns_record.caa 'home.arpa/@/CAA/0 issue letsencrypt.org'

# Or let homelab-discover write the import blocks of everything that exists:
# homelab-discover --backend technitium --out imports.tf
