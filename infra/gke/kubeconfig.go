package gke

import "sigs.k8s.io/yaml"

// authPluginHint is what kubectl prints when gke-gcloud-auth-plugin is missing.
const authPluginHint = "Install gke-gcloud-auth-plugin for use with kubectl by following https://cloud.google.com/kubernetes-engine/docs/how-to/cluster-access-for-kubectl#install_plugin"

// renderKubeconfig renders a kubeconfig for a GKE cluster that authenticates through
// gke-gcloud-auth-plugin, as `gcloud container clusters get-credentials` writes it: it embeds no
// credential, so it is safe to pass to the provider and keep (as a secret) in the state.
func renderKubeconfig(name, endpoint, caCertificate string) (string, error) {
	type named map[string]any
	out, err := yaml.Marshal(map[string]any{
		"apiVersion":      "v1",
		"kind":            "Config",
		"current-context": name,
		"clusters": []named{{"name": name, "cluster": named{
			"server":                     "https://" + endpoint,
			"certificate-authority-data": caCertificate,
		}}},
		"contexts": []named{{"name": name, "context": named{"cluster": name, "user": name}}},
		"users": []named{{"name": name, "user": named{"exec": named{
			"apiVersion":         "client.authentication.k8s.io/v1beta1",
			"command":            "gke-gcloud-auth-plugin",
			"installHint":        authPluginHint,
			"provideClusterInfo": true,
		}}}},
	})
	return string(out), err
}
