package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/holdfast/holdfast/shared/app"
	"github.com/holdfast/holdfast/shared/deadletter"
	"github.com/holdfast/holdfast/shared/servicebus"
)

// deadlettersCmd lists the dead-lettered messages of holdfast's queues or
// replays them (a copy with a new retry budget; the letter is removed once
// the copy is sent). It connects like publish: ServiceBusConnection (the
// Service Bus emulator in local mode) or the namespace with your Azure
// login, which needs Data Receiver and Data Sender on the queues.
func deadlettersCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("deadletters", flag.ContinueOnError)
	queue := fs.String("queue", "", "hr-offboarding or directory-events (default: both)")
	replay := fs.String("replay", "", "replay: a message id (or original id), or all")
	max := fs.Int("max", 100, "at most this many messages per queue")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	queues := []string{app.QueueHR, app.QueueDirectory}
	switch *queue {
	case "":
	case app.QueueHR, app.QueueDirectory:
		queues = []string{*queue}
	default:
		return fmt.Errorf("--queue must be %s or %s", app.QueueHR, app.QueueDirectory)
	}
	c, err := serviceBusClient()
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	_, err = deadletter.Run(ctx, servicebus.DeadLetters{C: c}, deadletter.Options{
		Queues: queues, Max: *max, Replay: *replay, JSON: *asJSON, Now: time.Now(),
	}, os.Stdout)
	return err
}
