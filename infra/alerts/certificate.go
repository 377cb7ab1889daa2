package alerts

import (
	"fmt"

	"github.com/cryptotracker/ctmd/infra/slo"
)

// Certificate alerts. Let's Encrypt no longer e-mails about expiring certificates, so a
// certificate cert-manager fails to renew is noticed here or when browsers refuse it.
const (
	CertificateExpiringAlert     = "MarketdataCertificateExpiring"
	CertificateExpiringSoonAlert = "MarketdataCertificateExpiringSoon"
	CertificateNotReadyAlert     = "MarketdataCertificateNotReady"
	CertificateGroup             = "marketdata-certificate"
)

// Thresholds: cert-manager renews a Let's Encrypt certificate 30 days before it expires (2/3 of
// its 90 days), so 14 days left means renewal has failed for two weeks: a ticket; 3 days left
// pages. Not Ready for an hour (a failed issuance or renewal) is a ticket.
const (
	ticketDays = 14
	pageDays   = 3
	notReadyIn = "1h"
)

// CertificateRules watches the domain's Certificate through cert-manager's controller metrics
// (certmanager_certificate_expiration_timestamp_seconds and certmanager_certificate_ready_status,
// labelled with the Certificate's name; https://cert-manager.io/docs/devops-tips/prometheus-metrics/).
// A Certificate whose metrics are missing counts as not Ready: a cert-manager nobody scrapes must
// not pass for one that renews.
func CertificateRules(certificate string, labels map[string]string, runbook string) slo.Group {
	sel := fmt.Sprintf("name=%q", certificate)
	remaining := fmt.Sprintf("min by (name) (certmanager_certificate_expiration_timestamp_seconds{%s}) - time()", sel)
	ready := fmt.Sprintf(`certmanager_certificate_ready_status{%s, condition="True"}`, sel)
	rule := func(name string, sev slo.Severity, expr, forDuration, summary string) slo.Rule {
		return slo.Rule{Alert: name, Expr: expr, For: forDuration, Labels: slo.AlertLabels(labels, runbook, name, sev), Annotations: map[string]string{"summary": summary}}
	}
	return slo.Group{Name: CertificateGroup, Interval: slo.Interval, Rules: []slo.Rule{
		rule(CertificateExpiringAlert, slo.Ticket, fmt.Sprintf("%s < %d * 86400", remaining, ticketDays), "",
			fmt.Sprintf("the certificate %s expires within %d days: cert-manager has not renewed it", certificate, ticketDays)),
		rule(CertificateExpiringSoonAlert, slo.Page, fmt.Sprintf("%s < %d * 86400", remaining, pageDays), "",
			fmt.Sprintf("the certificate %s expires within %d days: HTTPS clients will refuse the API", certificate, pageDays)),
		rule(CertificateNotReadyAlert, slo.Ticket, fmt.Sprintf("max by (name) (%s) != 1 or absent(%[1]s)", ready), notReadyIn,
			fmt.Sprintf("the certificate %s has not been Ready for an hour, or cert-manager's metrics of it are missing", certificate)),
	}}
}
