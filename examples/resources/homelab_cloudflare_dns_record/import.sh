# Import by zone id and record id: `zone_id/record_id`.
terraform import homelab_cloudflare_dns_record.www 023e105f4ecef8ad9ca31a8372d0c353/372e67954025e0ba6aaa6d586b9e0b59

# Or let homelab-discover write the import blocks of everything that exists:
# homelab-discover --backend cloudflare --out imports.tf
