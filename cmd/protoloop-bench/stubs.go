package main

import "context"

func runWrite(ctx context.Context, o *options) (*report, error)    { return nil, nil }
func runFanout(ctx context.Context, o *options) (*report, error)   { return nil, nil }
func runReplicas(ctx context.Context, o *options) (*report, error) { return nil, nil }
func runStartup(ctx context.Context, o *options) (*report, error)  { return nil, nil }
