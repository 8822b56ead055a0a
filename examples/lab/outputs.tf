# What the site gives its users: where things are, and their names. (The
# kubeconfig and talosconfig outputs, sensitive, are in talos.tf.)

output "endpoints" {
  description = "The site's endpoints: the Kubernetes API, the Talos API of each node, the ingress, the DNS server and the public address."
  value = {
    kubernetes = "https://k8s.${var.lab_domain}:6443"
    api_vip    = local.cluster_vip
    talos      = merge(local.node_ips, var.talos_nodes) # homelab-sim's nodes replace the VMs' addresses
    ingress    = local.ingress_ip
    dns_server = local.dns_server
    public_ip  = local.public_ip
  }
}

output "dns_names" {
  description = "Every name the site publishes: internal (Technitium) and public (Cloudflare)."
  value = {
    internal = sort(concat(
      ["k8s.${var.lab_domain}", "ingress.${var.lab_domain}"],
      [for name in keys(local.load_balancers) : "${name}.${var.lab_domain}"],
      [for name in local.services : "${name}.${var.lab_domain}"],
      [for vm in values(homelab_proxmox_vm.node) : "${vm.name}.${var.lab_domain}"],
    ))
    public = [
      for r in [homelab_cloudflare_dns_record.lab, homelab_cloudflare_dns_record.vpn, homelab_cloudflare_dns_record.status] :
      "${r.name == var.cloudflare_zone_name || endswith(r.name, ".${var.cloudflare_zone_name}") ? r.name : "${r.name}.${var.cloudflare_zone_name}"}"
    ]
  }
}
