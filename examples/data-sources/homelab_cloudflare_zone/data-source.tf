# By name: the API token must be allowed to list zones.
data "homelab_cloudflare_zone" "by_name" {
  name = "example.com"
}

# By id: works with tokens scoped to this zone only.
data "homelab_cloudflare_zone" "by_id" {
  zone_id = "023e105f4ecef8ad9ca31a8372d0c353"
}

output "name_servers" {
  value = data.homelab_cloudflare_zone.by_name.name_servers
}
