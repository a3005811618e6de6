"""gantry-nifti: de-identified series exported as NIfTI volumes or a BIDS dataset."""

__version__ = "0.1.0"
