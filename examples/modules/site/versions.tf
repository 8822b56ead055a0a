# The site as a module: the lab of examples/lab without its root module's
# own files (main.tf: the provider block; variables.tf: credentials). The
# other files are examples/lab's, linked (one copy of the HCL): the caller
# passes a configured `homelab` provider (examples/multi-site passes one per
# site, by alias) and the site's inputs (site.tf).
#
# Inputs:  site_name, address_plan, nodes, talos_nodes, lab_domain,
#          cloudflare_zone_id, cloudflare_zone_name, edge (and
#          pfsense_interfaces), proxmox_template_node, proxmox_shared_storage.
# Outputs: endpoints, dns_names, kubeconfig and talosconfig (sensitive).

terraform {
  required_version = ">= 1.11"
  required_providers {
    homelab = {
      source = "labforge/homelab"
    }
  }
}
