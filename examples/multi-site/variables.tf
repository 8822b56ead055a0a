variable "sites" {
  description = <<-EOT
    Each site's endpoints and credentials (homelab-sim --sites 2 writes
    them), and its Talos nodes' API endpoints. (Not sensitive as a whole: the
    Talos endpoints feed for_each. The provider's own attributes for tokens
    and passwords are sensitive, and a provider's configuration never shows
    in a plan.)
  EOT
  type = map(object({
    technitium_url          = string
    technitium_token        = string
    cloudflare_base_url     = optional(string)
    cloudflare_api_token    = string
    cloudflare_zone_id      = string
    cloudflare_zone_name    = string
    proxmox_endpoint        = string
    proxmox_api_token       = string
    routeros_url            = optional(string)
    routeros_username       = optional(string)
    routeros_password       = optional(string)
    routeros_ca_certificate = optional(string)
    pfsense_url             = optional(string)
    pfsense_username        = optional(string)
    pfsense_password        = optional(string)
    talos_nodes             = optional(map(string), {})
  }))

  validation {
    condition     = contains(keys(var.sites), "site1") && contains(keys(var.sites), "site2")
    error_message = "The sites must include site1 and site2 (one provider block each)."
  }
}
