package main

import (
	"errors"
	"strings"

	"github.com/spf13/cobra"

	"github.com/quorumkv/quorumkv/client"
)

// watchOutput is one event as watch prints it with -o json.
type watchOutput struct {
	Type    string   `json:"type"`
	Key     string   `json:"key,omitempty"`
	Values  []string `json:"values,omitempty"`
	Context string   `json:"context,omitempty"`
	Token   string   `json:"token"`
}

func newWatchCmd() *cobra.Command {
	var cf clientFlags
	var group, prefix, from string
	var count int
	var progress bool
	cmd := &cobra.Command{
		Use:   "watch KEY | --group G [--prefix P] [--from TOKEN]",
		Short: "Stream the changes of a key or a key group until interrupted",
		Long: `Stream the changes of a key, or of the keys of a group (the text between the
braces of keys like svc/{payments}/i-1), optionally only those starting with
--prefix. Each event carries the key's values, its context and a token:
--from TOKEN continues after that event, through any node. Events are at least
once and never go backwards for a key.

Exit codes: 0 interrupted or --count events seen, 2 bad request, 4 the token
is older than every replica's change log (list again and watch from now).`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 || (len(args) == 1) == (group != "") {
				return usagef("give one KEY or --group G")
			}
			if prefix != "" && group == "" {
				return usagef("--prefix narrows a --group watch")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			c, ctx, done, err := cf.foreground()
			if err != nil {
				return err
			}
			defer done()
			spec := client.WatchSpec{Group: group, Prefix: []byte(prefix), From: from}
			if len(args) == 1 {
				spec.Key = []byte(args[0])
			}
			seen := 0
			errDone := errors.New("done")
			err = c.Watch(ctx, spec, func(ev client.WatchEvent) error {
				if ev.Type == "progress" && !progress {
					return nil
				}
				if err := printEvent(cmd, cf.output, ev); err != nil {
					return err
				}
				seen++
				if count > 0 && seen >= count {
					return errDone
				}
				return nil
			})
			if errors.Is(err, errDone) {
				return nil
			}
			return err // ErrCompacted exits 4
		},
	}
	cf.register(cmd)
	cmd.Flags().StringVar(&group, "group", "", "watch the keys of this group (the text between their braces)")
	cmd.Flags().StringVar(&prefix, "prefix", "", "only the group's keys that start with this")
	cmd.Flags().StringVar(&from, "from", "", "continue after the event that carried this token")
	cmd.Flags().IntVar(&count, "count", 0, "exit after printing this many events (0: until interrupted)")
	cmd.Flags().BoolVar(&progress, "progress", false, "also print progress events (a fresh token while nothing changes)")
	return cmd
}

func printEvent(cmd *cobra.Command, format string, ev client.WatchEvent) error {
	out := watchOutput{Type: ev.Type, Key: string(ev.Key), Values: strs(ev.Values), Context: ev.Context, Token: ev.Token}
	if format == "json" {
		return writeJSON(cmd.OutOrStdout(), out)
	}
	switch ev.Type {
	case "progress":
		fprintf(cmd.OutOrStdout(), "progress\ttoken %s\n", ev.Token)
	case "delete", "expire":
		fprintf(cmd.OutOrStdout(), "%s\t%s\n", ev.Type, ev.Key)
	default:
		fprintf(cmd.OutOrStdout(), "put\t%s\t%s\n", ev.Key, strings.Join(out.Values, ", "))
	}
	return nil
}
