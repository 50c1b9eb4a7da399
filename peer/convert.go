package peer

import (
	"fmt"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/coordinator"
	"github.com/quorumkv/quorumkv/vclock"
)

var levelFromProto = map[api.Level]coordinator.Level{
	api.Level_LEVEL_UNSPECIFIED: coordinator.LevelDefault,
	api.Level_LEVEL_ONE:         coordinator.LevelOne,
	api.Level_LEVEL_TWO:         coordinator.LevelTwo,
	api.Level_LEVEL_THREE:       coordinator.LevelThree,
	api.Level_LEVEL_QUORUM:      coordinator.LevelQuorum,
	api.Level_LEVEL_ALL:         coordinator.LevelAll,
}

func ConsistencyFromProto(c *api.Consistency) (coordinator.Consistency, error) {
	lvl, ok := levelFromProto[c.GetLevel()]
	if !ok {
		return coordinator.Consistency{}, fmt.Errorf("%w: unknown consistency level %d", coordinator.ErrInvalidArgument, c.GetLevel())
	}
	return coordinator.Consistency{Level: lvl, Count: int(c.GetCount()), Strict: c.GetStrict()}, nil
}

func consistencyToProto(c coordinator.Consistency) *api.Consistency {
	var lvl api.Level
	for k, v := range levelFromProto {
		if v == c.Level {
			lvl = k
		}
	}
	return &api.Consistency{Level: lvl, Count: uint32(c.Count), Strict: c.Strict}
}

// WriteFromProto decodes a client's write; its context token is held to
// limits.
func WriteFromProto(req *api.PutRequest, tombstone bool, limits vclock.ContextLimits) (coordinator.Write, error) {
	cons, err := ConsistencyFromProto(req.GetConsistency())
	if err != nil {
		return coordinator.Write{}, err
	}
	ctx, err := vclock.ParseTokenLimited(req.GetContext(), limits)
	if err != nil {
		return coordinator.Write{}, fmt.Errorf("%w: context token: %v", coordinator.ErrInvalidArgument, err)
	}
	return coordinator.Write{Key: req.GetKey(), Value: req.GetValue(), Tombstone: tombstone, Context: ctx, Consistency: cons}, nil
}

// writeToProto encodes a write for forwarding. A delete travels as a put with
// no value and the tombstone flag.
func writeToProto(w coordinator.Write, from string) *api.ForwardRequest {
	return &api.ForwardRequest{
		Put: &api.PutRequest{
			Key:         w.Key,
			Value:       w.Value,
			Context:     w.Context.Token(),
			Consistency: consistencyToProto(w.Consistency),
		},
		Tombstone: w.Tombstone,
		From:      from,
	}
}

func InfoToProto(i coordinator.Info) *api.ResponseInfo {
	return &api.ResponseInfo{
		Coordinator:  i.Coordinator,
		Replicas:     i.Replicas,
		Required:     uint32(i.Required),
		Acks:         uint32(i.Acks),
		FallbackAcks: uint32(i.FallbackAcks),
		Partition:    uint32(i.Partition),
	}
}

func infoFromProto(i *api.ResponseInfo) coordinator.Info {
	return coordinator.Info{
		Coordinator:  i.GetCoordinator(),
		Replicas:     i.GetReplicas(),
		Required:     int(i.GetRequired()),
		Acks:         int(i.GetAcks()),
		FallbackAcks: int(i.GetFallbackAcks()),
		Partition:    int(i.GetPartition()),
	}
}

// WriteResultToProto answers a write with the resulting live siblings and
// their context, so the client sees every value a later write with that
// context would replace.
func WriteResultToProto(r coordinator.WriteResult) *api.PutResponse {
	return &api.PutResponse{
		Context: r.Clock.Context().Token(),
		Values:  r.Clock.Live(),
		Info:    InfoToProto(r.Info),
	}
}

func writeResultFromProto(p *api.ForwardResponse) (coordinator.WriteResult, error) {
	c, err := vclock.Unmarshal(p.GetClock())
	if err != nil {
		return coordinator.WriteResult{}, fmt.Errorf("corrupt forwarded result: %w", err)
	}
	return coordinator.WriteResult{Clock: c, Info: infoFromProto(p.GetResponse().GetInfo())}, nil
}
