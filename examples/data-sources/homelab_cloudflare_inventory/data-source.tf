# The DNS records of the zones the token can see, read-only (a DNS Read token
# suffices), and the records of types the provider does not manage.
data "homelab_cloudflare_inventory" "example" {
  filter = {
    # Zone names or zone IDs; a zone-scoped token that may not list zones
    # needs them.
    zone = ["example.com"]
  }
}

# Import IDs (`zone_id/record_id`) by resource address, e.g.
# "homelab_cloudflare_dns_record.www_example_com_a" = "023e105f.../372e6795...".
output "import_ids" {
  value = { for o in data.homelab_cloudflare_inventory.example.objects : "${o.type}.${o.name}" => o.id }
}

output "skipped" {
  value = [for s in data.homelab_cloudflare_inventory.example.skipped : "${s.what}: ${s.why}"]
}
