"""Operations tools: post-deploy smoke checks."""
