// Package podsec holds the container hardening every pod the stack runs shares: an unprivileged,
// numeric user, a read-only root filesystem with a size-bounded /tmp, no capabilities, no
// privilege escalation and the runtime's default seccomp profile (the Kubernetes Pod Security
// Standards' "restricted" profile, https://kubernetes.io/docs/concepts/security/pod-security-standards/).
package podsec

import (
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Container is a container's security context running as uid (numeric, so the kubelet can verify
// non-root even when the image names its user).
func Container(uid int) *corev1.SecurityContextArgs {
	return &corev1.SecurityContextArgs{
		RunAsNonRoot:             pulumi.Bool(true),
		RunAsUser:                pulumi.Int(uid),
		RunAsGroup:               pulumi.Int(uid),
		ReadOnlyRootFilesystem:   pulumi.Bool(true),
		AllowPrivilegeEscalation: pulumi.Bool(false),
		Capabilities:             &corev1.CapabilitiesArgs{Drop: pulumi.StringArray{pulumi.String("ALL")}},
		SeccompProfile:           &corev1.SeccompProfileArgs{Type: pulumi.String("RuntimeDefault")},
	}
}

// tmp is the one writable place of a read-only root filesystem.
const tmp = "tmp"

// TmpMount mounts the pod's TmpVolume at /tmp.
func TmpMount() corev1.VolumeMountArray {
	return corev1.VolumeMountArray{&corev1.VolumeMountArgs{Name: pulumi.String(tmp), MountPath: pulumi.String("/tmp")}}
}

// TmpVolume is an emptyDir of at most size for /tmp.
func TmpVolume(size string) corev1.VolumeArray {
	return corev1.VolumeArray{&corev1.VolumeArgs{
		Name:     pulumi.String(tmp),
		EmptyDir: &corev1.EmptyDirVolumeSourceArgs{SizeLimit: pulumi.String(size)},
	}}
}
