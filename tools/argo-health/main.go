// argo-health runs Argo CD health_test.yaml cases with Argo CD's own Lua
// engine (github.com/argoproj/argo-cd/v3/util/lua), the way argocd-cm
// resource.customizations.health.<group>_<Kind> scripts run in production:
// the script is a ResourceOverride found by GetHealthScript, executed by
// ExecuteHealthLua with the standard libraries off (UseOpenLibs false).
//
// Usage: argo-health <resource_customizations dir>...
// Each dir is walked for */health.lua; every case prints one line
// ("ok" or "FAIL") and the exit code is 1 when any case fails.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"

	"github.com/argoproj/gitops-engine/pkg/health"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	appv1 "github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
	argolua "github.com/argoproj/argo-cd/v3/util/lua"
)

type testFile struct {
	Tests []struct {
		InputPath    string              `json:"inputPath"`
		HealthStatus health.HealthStatus `json:"healthStatus"`
	} `json:"tests"`
}

func readYAML(path string, into any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := yaml.UnmarshalStrict(b, into); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// runDir runs the cases of one <group>/<Kind> directory; it returns the
// number of cases and failures.
func runDir(dir string) (int, int) {
	script, err := os.ReadFile(filepath.Join(dir, "health.lua"))
	if err != nil {
		fmt.Printf("FAIL %s: %v\n", dir, err)
		return 1, 1
	}
	var tf testFile
	if err := readYAML(filepath.Join(dir, "health_test.yaml"), &tf); err != nil {
		fmt.Printf("FAIL %s: %v\n", dir, err)
		return 1, 1
	}
	if len(tf.Tests) == 0 {
		fmt.Printf("FAIL %s: health_test.yaml has no tests\n", dir)
		return 1, 1
	}
	failed := 0
	for _, tc := range tf.Tests {
		name := filepath.Join(dir, tc.InputPath)
		obj := map[string]any{}
		if err := readYAML(name, &obj); err != nil {
			fmt.Printf("FAIL %s: %v\n", name, err)
			failed++
			continue
		}
		u := &unstructured.Unstructured{Object: obj}
		key := argolua.GetConfigMapKey(u.GroupVersionKind())
		vm := argolua.VM{ResourceOverrides: map[string]appv1.ResourceOverride{
			key: {HealthLua: string(script)},
		}}
		found, openLibs, err := vm.GetHealthScript(u)
		if err != nil || found == "" {
			fmt.Printf("FAIL %s: no health script for %s (%v)\n", name, key, err)
			failed++
			continue
		}
		vm.UseOpenLibs = openLibs
		got, err := vm.ExecuteHealthLua(u, found)
		if err != nil {
			fmt.Printf("FAIL %s: %v\n", name, err)
			failed++
			continue
		}
		if !reflect.DeepEqual(*got, tc.HealthStatus) {
			fmt.Printf("FAIL %s: want %s %q, got %s %q\n", name,
				tc.HealthStatus.Status, tc.HealthStatus.Message, got.Status, got.Message)
			failed++
			continue
		}
		fmt.Printf("ok   %s: %s %q\n", name, got.Status, got.Message)
	}
	return len(tf.Tests), failed
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: argo-health <resource_customizations dir>...")
		os.Exit(2)
	}
	total, failed := 0, 0
	for _, root := range os.Args[1:] {
		err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && d.Name() == "health.lua" {
				n, f := runDir(filepath.Dir(p))
				total, failed = total+n, failed+f
			}
			return nil
		})
		if err != nil {
			fmt.Printf("FAIL %s: %v\n", root, err)
			failed++
		}
	}
	if total == 0 {
		fmt.Println("FAIL no health.lua found")
		os.Exit(1)
	}
	fmt.Printf("%d cases, %d failed\n", total, failed)
	if failed > 0 {
		os.Exit(1)
	}
}
