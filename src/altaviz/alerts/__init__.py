"""Alert episodes, their lifecycle, and the workflows that keep the list honest."""
