package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/cryptotracker/ctmd/infra/config"
)

// Deployment is what the program reads of a Deployment already in an existing cluster.
type Deployment struct {
	Namespace, Name string
	Annotations     map[string]string
	// Managers are the field managers that wrote it, not its status (helm,
	// kubectl-client-side-apply, ...).
	Managers []string
}

// Foreign returns the first of found that is not ctmd's own installation, the Deployment
// namespace/name applied by ctmd (which marks what it applies with ownMark set to "true"), and who
// wrote it; ok is false when every one is ctmd's.
func Foreign(found []Deployment, namespace, name, ownMark string) (d Deployment, by string, ok bool) {
	for _, d := range found {
		if d.Namespace == namespace && d.Name == name && d.Annotations[ownMark] == "true" {
			continue
		}
		by = "another tool"
		if len(d.Managers) > 0 {
			by = strings.Join(d.Managers, ", ")
		}
		return d, by, true
	}
	return Deployment{}, "", false
}

// lookupTimeout bounds a lookup: a cluster that does not answer fails the preview, as the
// provider's own calls would, but sooner.
const lookupTimeout = 30 * time.Second

var deploymentsGVR = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}

// ExistingDeployments lists the Deployments of every namespace of the existing cluster cfg points
// at that match a label selector, as they are when the program runs (preview included), read with
// the kubeconfig the provider is given. Only their metadata is read.
func ExistingDeployments(ctx context.Context, cfg *config.Config, selector string) ([]Deployment, error) {
	restConfig, err := RESTConfig(cfg.KubeconfigContents())
	if err != nil {
		return nil, err
	}
	client, err := metadata.NewForConfig(restConfig)
	if err != nil {
		return nil, fmt.Errorf("a client for the cluster: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	list, err := client.Resource(deploymentsGVR).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, fmt.Errorf("listing the cluster's Deployments labelled %s: %w", selector, err)
	}
	found := make([]Deployment, 0, len(list.Items))
	for _, item := range list.Items {
		d := Deployment{Namespace: item.Namespace, Name: item.Name, Annotations: item.Annotations}
		for _, f := range item.ManagedFields {
			// The status is written by the cluster's controllers, whoever installed it.
			if f.Subresource != "status" {
				d.Managers = append(d.Managers, f.Manager)
			}
		}
		found = append(found, d)
	}
	return found, nil
}

// DynamicClient is a client of the cluster a hook acts on: kubeconfig as the provider was given it
// (its contents, or "" for the ambient kubeconfig).
func DynamicClient(kubeconfig string) (*dynamic.DynamicClient, error) {
	restConfig, err := HookConfig(kubeconfig)
	if err != nil {
		return nil, err
	}
	client, err := dynamic.NewForConfig(restConfig)
	if err != nil {
		return nil, fmt.Errorf("a client for the cluster: %w", err)
	}
	return client, nil
}

// HookConfig is the client configuration of the cluster a hook acts on, for clients other than
// DynamicClient: kubeconfig as the provider was given it (its contents, or "" for the ambient
// kubeconfig).
func HookConfig(kubeconfig string) (*rest.Config, error) {
	var contents []byte
	if kubeconfig != "" {
		contents = []byte(kubeconfig)
	}
	return RESTConfig(contents)
}

// RESTConfig is the client configuration of the cluster the provider deploys into: kubeconfig's
// contents, or the ambient kubeconfig when nil, which the provider reads too.
func RESTConfig(kubeconfig []byte) (*rest.Config, error) {
	if kubeconfig != nil {
		c, err := clientcmd.RESTConfigFromKubeConfig(kubeconfig)
		if err != nil {
			// ctmd:kubeconfig is a secret, and a parser's error may quote it: name the key only.
			return nil, errors.New(`config "ctmd:kubeconfig" is not a kubeconfig a client can use: set it again with pulumi config set --secret ctmd:kubeconfig "$(cat <kubeconfig-file>)"`)
		}
		return c, nil
	}
	c, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(clientcmd.NewDefaultClientConfigLoadingRules(), nil).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("the ambient kubeconfig ($KUBECONFIG or ~/.kube/config): %w", err)
	}
	return c, nil
}
