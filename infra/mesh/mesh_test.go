package mesh

import (
	"testing"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
)

// A load balancer still pending must give an empty address, never an error.
func TestLoadBalancerAddress(t *testing.T) {
	ip, host, empty := "198.51.100.7", "lb.example.net", ""
	tests := []struct {
		name   string
		status *corev1.ServiceStatus
		want   string
	}{
		{"no status", nil, ""},
		{"no load balancer", &corev1.ServiceStatus{}, ""},
		{"pending", &corev1.ServiceStatus{LoadBalancer: &corev1.LoadBalancerStatus{}}, ""},
		{"empty entry", &corev1.ServiceStatus{LoadBalancer: &corev1.LoadBalancerStatus{
			Ingress: []corev1.LoadBalancerIngress{{Ip: &empty}}}}, ""},
		{"ip", &corev1.ServiceStatus{LoadBalancer: &corev1.LoadBalancerStatus{
			Ingress: []corev1.LoadBalancerIngress{{Ip: &ip}}}}, ip},
		{"hostname only", &corev1.ServiceStatus{LoadBalancer: &corev1.LoadBalancerStatus{
			Ingress: []corev1.LoadBalancerIngress{{Hostname: &host}}}}, host},
		{"first usable entry", &corev1.ServiceStatus{LoadBalancer: &corev1.LoadBalancerStatus{
			Ingress: []corev1.LoadBalancerIngress{{}, {Ip: &ip, Hostname: &host}}}}, ip},
	}
	for _, tt := range tests {
		if got := loadBalancerAddress(tt.status); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}
