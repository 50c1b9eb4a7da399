package ring

// pinnedPlacement is what TestPinnedPlacement expects from placement
// "consistent-v1.0.0/rf100/load1.25/spread-v1/keygroups-v1".
var pinnedPlacement = []string{
	"node-2,node-4,node-1",
	"node-4,node-1,node-2",
	"node-4,node-5,node-1",
	"node-1,node-2,node-4",
	"419",
	"ba8f829d23a216fa",
}
