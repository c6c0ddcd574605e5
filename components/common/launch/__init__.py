"""Where a training step runs: in this process, as `torchrun` processes on this machine, or as a Kubeflow Trainer
TrainJob across nodes (`launcher.launch_training`), with the one entry point every rank starts (`__main__`).

Modules: `ranks` (the MLflow run id variable, this process's rank), `torchrun`, `nodes` (staging through the
pipeline workspace, `NodeJob`), `trainjob` (the TrainJob body and its status), `forwarding` (which variables a
TrainJob gets, credentials by reference), `launcher` (the choice).
"""
