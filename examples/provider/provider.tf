terraform {
  required_providers {
    homelab = {
      source = "labforge/homelab"
    }
  }
}

# Configure only the backends you use. Every attribute falls back to an
# environment variable (TECHNITIUM_URL, CLOUDFLARE_API_TOKEN, ...), so
# secrets can stay out of the configuration.
provider "homelab" {
  technitium {
    url = "http://dns.lab.internal:5380"
  }

  cloudflare {}

  # The password comes from ROS_PASSWORD. A router whose certificate no
  # system CA signed needs ca_certificate (its CA: PEM text or a file's path).
  routeros {
    url      = "https://router.lab.internal"
    username = "terraform"
  }
}
