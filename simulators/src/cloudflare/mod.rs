pub struct CloudflareSim;
