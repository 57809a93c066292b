"""The notifier: renders each requested notice and delivers it by email, signed webhook or SMS."""
